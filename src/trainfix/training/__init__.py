"""The training layer: the one LightningModule (`module.Classifier`), its construction from a config,
the callbacks every run uses, checkpoint loading (`checkpoint.load_run`) and export."""
