"""Techniques made of several runs (Apricot: reduced models, then passes over a trained model).
They train through `trainfix.training`, like every run."""
