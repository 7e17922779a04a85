"""Small shared helpers with one home each: atomic file writes, argument checks, device resolution.

None of these modules imports torch at import time except `device`.
"""
