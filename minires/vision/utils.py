"""torchvision.utils's shape in minires (being written)."""
