-- Newest first within one term: a search for a whole name part (佐藤, さとう) reads the ten
-- newest rows of that term and stops, however many people share the name.
CREATE INDEX person_terms_recent ON person_terms (term, updated_ms);
