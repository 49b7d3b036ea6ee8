"""The core layer: what every other layer may use and that uses none of them.

Events and the catalog (SPEC §1-2), settings, typed errors, time parsing, and the one
presentation layer (formatting and messages in pt-BR and English).
"""
