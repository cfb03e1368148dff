"""Fine-tuning of the specialist models: datasets, LoRA training, adapter export and checks."""
