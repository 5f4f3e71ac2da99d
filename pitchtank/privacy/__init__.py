"""Personal data under Mexico's LFPDPPP: the privacy notice, one's data download and account deletion."""
