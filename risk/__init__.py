"""Instruments, prices, positions, margin policies and engine, calls and liquidation."""
