"""torchvision.datasets's shape in minires (being written)."""
