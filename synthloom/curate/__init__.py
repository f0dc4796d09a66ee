"""Curation: small blocks that keep or reject each sample, with every reason kept.

`synthloom curate RUN_DIR` (or a spec's `curate:` block after generation) runs
filters (heuristics, language, leakage), dedup (exact, MinHash-LSH, embeddings)
and judges (rubric, faithfulness, labels) and writes `RUN_DIR/curated/`.

Import from the modules (`synthloom.curate.pipeline`, `.config`, ...): this
package stays empty so dedup's worker processes start without loading the
judges and their model clients.
"""
