"""Configuration Management Database: configuration items, relationships, installed software, licences."""
