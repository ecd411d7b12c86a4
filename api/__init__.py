"""HTTP API and command line for careerbot."""
