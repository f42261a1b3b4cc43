"""The committed evidence as a whole: each folder's PROVENANCE.md (`provenance`) and the findings page (`findings`).

Not part of the results pipeline (`trainfix.results` builds one folder's tables from its runs): these read every
folder of `results/manifest.yaml` and the tables already built, so they sit one layer above it (docs/architecture.md).
"""
