"""Exports of a release for other tools: `hf` (a `datasets`-loadable Parquet folder with a dataset
card) and `inspect` (inspect_ai task files scoring with medbench's own scorers), plus the reverse
path `import_inspect` (an inspect log → a medbench submission). Every export reads the release's
own records (`Release.items` / `Release.gold`); no item logic is repeated here."""
