"""Identity sources: where people come from and how their passwords are checked.

Each source says which identifiers it owns, so a password is only ever sent to one source. For now
the local source (citizens) is the only one; the directory source for officials joins it later.
"""
