"""Definitive Software Library and Definitive Hardware Store."""
