"""assessment: reproducible annual assessments of government websites and new-media accounts.

政府网站与政务新媒体年度考评：从证据到通报，每一分都可追溯。
"""

__version__ = "0.1.0"
