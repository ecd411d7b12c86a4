"""Ingestion: parse the guides in `corpus/`, chunk them by section and index them in Qdrant."""
