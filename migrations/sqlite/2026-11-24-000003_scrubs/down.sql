DROP TABLE scrub_results; DROP TABLE scrubs;
