"""Fit the query adapter (rag.adapter) on the train split; choose its pull on the dev split.

    python -m eval.fit_adapter [--dataset FILE] [--out rag/data/query_adapter.npz]

Run it before `python -m eval.fit`: the answer model is fitted on adapted vectors.

1. The corpus is ingested into a temporary store with the model's own vectors, and every
   answerable question of train and dev is retrieved as the bot would (without an
   adapter). Its rows: the question's vector (a follow-up's own, as the answerer compares
   pieces with it), the vectors of every piece of its candidate blocks, and which pieces
   overlap its evidence.
2. For each pull toward the identity in `PULL_GRID`, a matrix W (starting at the identity)
   is fitted on train by Adam: the loss is the softmax cross-entropy of the evidence
   pieces among the candidates, with cosine similarities of `v @ W` over a temperature,
   plus `pull * ||W - I||^2`.
3. The pull with the best dev MRR of the first evidence piece among the candidates is
   kept. The test split is not read here.
4. With that pull, each guide in turn is held out (`held_out_guides`): fitted without its
   questions and pieces, does the adapter hurt questions about a guide it never saw?

Written by hand rather than with a library: llama-index's adapter fine-tuning wants an LLM-
generated dataset and its own training loop over a whole package; what is needed is one
matrix and twenty lines of torch (already installed for the model).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eval.dataset import DEFAULT_SET, Item, in_evidence, load_items, spans
from eval.run import _ingest, temporary_store
from rag.adapter import ADAPTER_PATH, QueryAdapter
from rag.answer import candidate_blocks
from rag.blocks import piece_id
from rag.chat import CareerBot
from rag.services import Services
from rag.settings import Settings
from rag.store import Store

PULL_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)
EPOCHS = 30
BATCH = 32
TEMPERATURE = 0.05
LEARNING_RATE = 1e-3


def rows(items: list[Item], settings: Settings) -> list[dict[str, Any]]:
    """`question_rows` of `items` over a temporary index of the corpus, with the model's
    own (unadapted) vectors."""
    services = Services(settings.model_copy(update={"query_adapter": False}))
    with temporary_store() as st:
        _ingest(settings.corpus_dir, st, services.embedder, settings, progress=False)
        return question_rows(items, st, services.over(st).bot)


def question_rows(items: list[Item], store: Store, bot: CareerBot) -> list[dict[str, Any]]:
    """(question vector, candidate piece vectors, labels) of each answerable item whose
    candidates hold a piece of its evidence, retrieved by `bot` as it would answer."""
    import numpy as np

    texts = {d["doc_id"]: d["text"] for d in store.list_docs(with_text=True)}
    out: list[dict[str, Any]] = []
    for it in items:
        if not (it.answerable and it.evidence):
            continue
        q, hits, vectors = bot.retrieve(it.question, [t.model_dump() for t in it.history])
        assert vectors is not None  # a hybrid search embeds the question
        own = bot.embedder.embed_query(q.own_search_text) if q.context else vectors.search
        ev = spans(it, texts)
        pieces = [(b, p) for b, _ in candidate_blocks(hits) for p in b.pieces]
        vecs = store.unit_vectors([piece_id(b, p) for b, p in pieces])
        have = [(b, p) for b, p in pieces if piece_id(b, p) in vecs]
        y = [int(in_evidence(b.doc_id, p.start, p.end, ev)) for b, p in have]
        if any(y):
            out.append({"id": it.id, "split": it.split,
                        "guides": sorted({d for d, _, _ in ev}),
                        "docs": [b.doc_id for b, _ in have],
                        "q": np.asarray(own, dtype=np.float32),
                        "P": np.asarray([vecs[piece_id(b, p)] for b, p in have],
                                        dtype=np.float32),
                        "y": np.asarray(y, dtype=np.float32)})
    return out


def _padded(data: list[dict[str, Any]]) -> tuple[Any, Any, Any, Any]:
    import torch

    n, m, d = len(data), max(len(r["y"]) for r in data), len(data[0]["q"])
    Q, P = torch.zeros(n, d), torch.zeros(n, m, d)
    Y, M = torch.zeros(n, m), torch.zeros(n, m, dtype=torch.bool)
    for i, r in enumerate(data):
        k = len(r["y"])
        Q[i], P[i, :k], Y[i, :k], M[i, :k] = (torch.from_numpy(r["q"]), torch.from_numpy(r["P"]),
                                              torch.from_numpy(r["y"]), True)
    return Q, P, Y, M


def _scores(W: Any, Q: Any, P: Any, M: Any) -> Any:
    import torch

    q = torch.nn.functional.normalize(Q @ W, dim=-1)
    s = torch.einsum("nd,nmd->nm", q, P)
    return s.masked_fill(~M, -1e9)


def fit_matrix(train: list[dict[str, Any]], pull: float, seed: int = 0) -> Any:
    import torch

    torch.manual_seed(seed)
    Q, P, Y, M = _padded(train)
    d = Q.shape[1]
    eye = torch.eye(d)
    W = eye.clone().requires_grad_(True)
    opt = torch.optim.Adam([W], lr=LEARNING_RATE)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        order = torch.randperm(len(Q), generator=gen)
        for start in range(0, len(Q), BATCH):
            b = order[start:start + BATCH]
            s = _scores(W, Q[b], P[b], M[b]) / TEMPERATURE
            pos = s.masked_fill(Y[b] == 0, -1e9)
            loss = (torch.logsumexp(s, 1) - torch.logsumexp(pos, 1)).mean()
            loss = loss + pull * ((W - eye) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return W.detach()


def ranking(W: Any, data: list[dict[str, Any]]) -> dict[str, float]:
    """Top-1 and MRR of the evidence pieces among each question's candidates."""
    import torch

    Q, P, Y, M = _padded(data)
    order = torch.argsort(_scores(W, Q, P, M), dim=1, descending=True)
    hit = torch.gather(Y, 1, order) > 0
    first = hit.float().argmax(1)
    return {"top1": round(float(hit[:, 0].float().mean()), 4),
            "mrr": round(float((1.0 / (1 + first.float())).mean()), 4)}


def without_guide(rows: list[dict[str, Any]], guide: str) -> list[dict[str, Any]]:
    """The rows of questions that do not touch `guide`, without its pieces: what an adapter
    fitted before that guide was added would have seen."""
    out = []
    for r in rows:
        if guide in r["guides"]:
            continue
        keep = [i for i, d in enumerate(r["docs"]) if d != guide]
        if r["y"][keep].any():
            out.append({**r, "P": r["P"][keep], "y": r["y"][keep],
                        "docs": [r["docs"][i] for i in keep]})
    return out


def held_out_guides(data: list[dict[str, Any]], pull: float, least: int = 20
                    ) -> dict[str, dict[str, Any]]:
    """What the adapter does to questions about a guide it was not fitted on (a user adds
    a guide and does not refit): for each guide with at least `least` questions answered
    by it alone, an adapter fitted on the train questions about the other guides, compared
    with none on those questions (train and dev: none of them was fitted on)."""
    import torch

    report = {}
    for guide in sorted({g for r in data for g in r["guides"]}):
        only = [r for r in data if r["guides"] == [guide]]
        if len(only) < least:
            continue
        W = fit_matrix(without_guide([r for r in data if r["split"] == "train"], guide), pull)
        report[guide] = {"questions": len(only), "none": ranking(torch.eye(W.shape[0]), only),
                         "adapter": ranking(W, only)}
    return report


def fit(items: list[Item], settings: Settings, out: Path, log: Any = print) -> QueryAdapter:
    import torch

    data = rows([it for it in items if it.split in ("train", "dev")], settings)
    train = [r for r in data if r["split"] == "train"]
    dev = [r for r in data if r["split"] == "dev"]
    eye = torch.eye(len(train[0]["q"]))
    log(f"identity: train {ranking(eye, train)}, dev {ranking(eye, dev)}")
    best: tuple[float, float, Any, dict[str, float]] | None = None
    for pull in PULL_GRID:
        W = fit_matrix(train, pull)
        on_dev = ranking(W, dev)
        log(f"pull {pull}: train {ranking(W, train)}, dev {on_dev}")
        if best is None or on_dev["mrr"] > best[1] + 1e-9:
            best = (pull, on_dev["mrr"], W, on_dev)
    assert best is not None
    pull, _, W, on_dev = best
    unseen = held_out_guides(data, pull)
    for guide, r in unseen.items():
        log(f"{guide} held out ({r['questions']} questions): none {r['none']}, "
            f"adapter {r['adapter']}")
    adapter = QueryAdapter(W.numpy(), settings.model_id(), info={
        "fitted_on": f"{len(train)} train questions", "pull": pull,
        "chosen_on": f"{len(dev)} dev questions", "dev": on_dev,
        "dev_identity": ranking(eye, dev), "held_out_guides": unseen,
        "grid": list(PULL_GRID), "epochs": EPOCHS, "temperature": TEMPERATURE,
    })
    adapter.dump(out)
    log(f"wrote {out} (pull {pull})")
    return adapter


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT_SET)
    ap.add_argument("--out", type=Path, default=ADAPTER_PATH)
    args = ap.parse_args(argv)
    fit(load_items(args.dataset), Settings(), args.out,
        log=lambda s: print(s, file=sys.stderr))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
