"""Fault catalog: each kind is data (params) plus inject/activate/fix code.

A fault's switch lives in the world (``faults/state.json``), outside any run parameter, so
a step re-executed after the fix sees the fixed world.
"""
