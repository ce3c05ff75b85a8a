"""Hardware access layers: `esp32` (the only module that imports `machine`) and simulated ones."""
