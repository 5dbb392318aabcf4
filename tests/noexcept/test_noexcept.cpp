// tests added by the reader work
