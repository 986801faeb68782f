from lrchain.cli import entry

entry()
