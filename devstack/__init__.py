"""The development stack (`outlayer dev`): every service on one machine, supervised."""
