"""splitguard: a supervisor for ductless mini-split heat pumps (logic shared by board and host)."""

VERSION = "0.1.0"
