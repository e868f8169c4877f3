-- The schema commit e96f14f's create_all made in scoring's database (sqlite), compiled from that
-- commit's metadata (the store's tables, then scoring's projections).
-- core
CREATE TABLE events (
	position BIGINT NOT NULL, 
	event_id VARCHAR(36) NOT NULL, 
	stream_id VARCHAR(200) NOT NULL, 
	version INTEGER NOT NULL, 
	type VARCHAR(200) NOT NULL, 
	schema_version INTEGER NOT NULL, 
	payload TEXT NOT NULL, 
	metadata TEXT NOT NULL, 
	recorded_at VARCHAR(32) NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (position), 
	CONSTRAINT uq_events_stream_version UNIQUE (stream_id, version), 
	UNIQUE (event_id)
);
CREATE INDEX ix_events_recorded_at ON events (recorded_at);
CREATE TABLE processed_events (
	consumer VARCHAR(100) NOT NULL, 
	event_id VARCHAR(36) NOT NULL, 
	processed_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (consumer, event_id)
);
CREATE TABLE outbox (
	position BIGINT NOT NULL, 
	topic VARCHAR(200) NOT NULL, 
	"key" VARCHAR(200) NOT NULL, 
	published_at VARCHAR(32), 
	PRIMARY KEY (position), 
	FOREIGN KEY(position) REFERENCES events (position)
);
CREATE INDEX ix_outbox_unpublished ON outbox (published_at, position);
-- scoring
CREATE TABLE scoring_compliance_entries (
	entry_id VARCHAR(200) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	subject_kind VARCHAR(20) NOT NULL, 
	subject_id VARCHAR(200) NOT NULL, 
	occurred_on VARCHAR(10) NOT NULL, 
	source TEXT NOT NULL, 
	summary TEXT NOT NULL, 
	withdrawn BOOLEAN NOT NULL, 
	withdrawn_reason TEXT NOT NULL, 
	PRIMARY KEY (entry_id)
);
CREATE INDEX ix_scoring_compliance_entries_subject_id ON scoring_compliance_entries (subject_id);
CREATE TABLE scoring_nominations (
	nomination_id VARCHAR(36) NOT NULL, 
	campaign_id VARCHAR(100) NOT NULL, 
	category VARCHAR(100) NOT NULL, 
	hospital_id VARCHAR(100) NOT NULL, 
	evaluable BOOLEAN NOT NULL, 
	facts TEXT NOT NULL, 
	PRIMARY KEY (nomination_id)
);
CREATE INDEX ix_scoring_nominations_hospital_id ON scoring_nominations (hospital_id);
CREATE TABLE scoring_rounds (
	round_id VARCHAR(200) NOT NULL, 
	campaign_id VARCHAR(100) NOT NULL, 
	category VARCHAR(100) NOT NULL, 
	nomination_ids TEXT NOT NULL, 
	results_version INTEGER NOT NULL, 
	PRIMARY KEY (round_id)
);
CREATE TABLE scoring_verdicts (
	nomination_id VARCHAR(36) NOT NULL, 
	rule VARCHAR(100) NOT NULL, 
	decision VARCHAR(20) NOT NULL, 
	reason TEXT NOT NULL, 
	parameters TEXT NOT NULL, 
	recorded_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (nomination_id, rule)
);
