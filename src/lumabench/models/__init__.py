"""Modality encoders and fusion operators shared by the methods."""
