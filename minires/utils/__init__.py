"""torch.utils-shaped helpers: `data` (Dataset, DataLoader and samplers, as torch.utils.data)
and `hooks` (RemovableHandle). minires/__init__.py imports `data`; this file imports nothing,
so the low layers (ops, the engine) can use `hooks` without pulling the data pipeline in."""
