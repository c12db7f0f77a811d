"""What keeps users, money and personal data safe: the ledger of billed provider calls with quotas, budgets and
breakers (`ledger`), consent notices (`consent`), the access audit (`audit`), masking of personal data (`masking`)
and the identifier checks made before any billed call (`validators`)."""
