"""Journeys: the definition language (`definition`), the services that edit and enrol
(`services`), the engine that advances enrolments as sets (`engine`), the event-log
reader that enrols and wakes people (`triggers`), and reads (`selectors`)."""
