"""torchvision.transforms's shape in minires (being written)."""
