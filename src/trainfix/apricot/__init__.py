"""Apricot (Zhang & Chan, ASE 2019): weight adaptation of a trained model from reduced models.

`adapt` holds Eqs. 1-4 (vectorized, and the naive reference); `procedure` one resumable pass of
Algorithm 2 over trained runs (`python -m trainfix.apricot`). See docs/apricot.md.
"""
