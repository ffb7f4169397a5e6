"""Workflows that outlive a screen: they run on the App and open the screens they report to."""
