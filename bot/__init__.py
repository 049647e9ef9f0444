"""peerdesk: a peer-support helpdesk bot for the staff of a vocational school."""

ROLES: tuple[str, ...] = ("tvt", "luotsi", "vertaisvalmentaja")
LANGUAGES: tuple[str, ...] = ("fi", "sv", "en")
LEAD = "lead"  # a head of education: sees the reports, does not answer tickets
ROSTER_ROLES: tuple[str, ...] = (*ROLES, LEAD)
DEFAULT_LANGUAGE = "fi"
