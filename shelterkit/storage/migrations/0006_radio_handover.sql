-- What each radio port has handed towards city hall (docs/radio.md, "Pushes and routes";
-- model.handover): per (origin, stream) the highest sequence number an uplink acknowledged,
-- whether records above it wait to be handed on and who handed them to us. Written before
-- the radio acknowledges what it received, so a power loss loses no custody.
CREATE TABLE radio_handover (
    station   INTEGER NOT NULL,            -- the port's link-level station id
    origin    BLOB NOT NULL,
    stream    INTEGER NOT NULL,
    handed    INTEGER NOT NULL,            -- highest seq an uplink acknowledged; 0 none
    pending   INTEGER NOT NULL,            -- 1: records above handed to hand on
    came_from INTEGER NOT NULL,            -- station that handed them to us; 0 our own
    touched   INTEGER NOT NULL,            -- order of the last change (least recent forgotten first)
    PRIMARY KEY (station, origin, stream)
) WITHOUT ROWID
