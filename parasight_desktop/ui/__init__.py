"""Qt widgets and the one worker thread. Thin: calls engine/ and library/."""
