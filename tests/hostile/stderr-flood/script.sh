yes "noise noise noise" | head -c 104857600 >&2
exit 1
