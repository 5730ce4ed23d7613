"""Training: LightningModules, data modules and the LightningCLI entries (`train_main`)."""
