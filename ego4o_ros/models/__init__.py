"""Torch models of Ego4o (ROS-free): part-aware VQ-VAE, fusion encoder, baselines."""
