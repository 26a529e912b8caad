__version__ = "1.2.0"


def main():
    print("forge-style", __version__)
