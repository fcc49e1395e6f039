"""torchvision.models's shape in minires (being written)."""
