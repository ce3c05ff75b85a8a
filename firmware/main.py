# splitguard main.py — the board's entry point; everything lives in splitguard.app.
from splitguard.app import main

main()
