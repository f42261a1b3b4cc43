"""Apricot (Zhang & Chan, ASE 2019): weight adaptation of a trained model from reduced models.

`adapt` holds Eqs. 1-4 (vectorized; the naive per-sample reference is `benchmarks/apricot_naive.py`);
`retrain` the retraining after each batch, through the input run's own LightningModule loss; `procedure`
one resumable pass of Algorithm 2 over trained runs (`python -m trainfix.apricot`). See docs/apricot.md.
"""
