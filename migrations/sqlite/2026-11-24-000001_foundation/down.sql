DROP TABLE statements; DROP TABLE api_keys;
