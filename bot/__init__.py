"""peerdesk: a peer-support helpdesk bot for the staff of a vocational school."""

ROLES: tuple[str, ...] = ("tvt", "luotsi", "vertaisvalmentaja")
LANGUAGES: tuple[str, ...] = ("fi", "sv", "en")
DEFAULT_LANGUAGE = "fi"
