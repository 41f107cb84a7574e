"""Credit lines, signed agreements and disclosures, financing contracts, interest, funding."""
