"""``ocd board``: the night on one web page (:mod:`.server`, its pacing :mod:`.hub`, its
options :mod:`.options`), the password hashes of its users (:mod:`.auth`), and the command that
runs it (:mod:`.command`)."""

from ocd.app.board.command import hash_password_entry, run_board
from ocd.app.board.options import board_options
from ocd.app.board.server import Board, check_board_address

__all__ = ["Board", "board_options", "check_board_address", "hash_password_entry", "run_board"]
