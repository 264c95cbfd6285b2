"""Entering a flow: who is proposed (triggers, watched documents, web forms), who may enter
(eligibility, double opt-in) and the enrolment itself."""
