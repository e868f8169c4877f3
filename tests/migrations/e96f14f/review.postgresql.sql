-- The schema commit e96f14f's create_all made in review's database (postgresql), compiled from that
-- commit's metadata (the store's tables, then review's projections).
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
	key VARCHAR(200) NOT NULL, 
	published_at VARCHAR(32), 
	PRIMARY KEY (position), 
	FOREIGN KEY(position) REFERENCES events (position)
);
CREATE INDEX ix_outbox_unpublished ON outbox (published_at, position);
-- review
CREATE TABLE review_assignments (
	round_id VARCHAR(200) NOT NULL, 
	nomination_id VARCHAR(36) NOT NULL, 
	reviewer_id VARCHAR(200) NOT NULL, 
	"group" VARCHAR(100) NOT NULL, 
	active BOOLEAN NOT NULL, 
	submitted BOOLEAN NOT NULL, 
	PRIMARY KEY (round_id, nomination_id, reviewer_id)
);
CREATE INDEX ix_review_assignments_reviewer_id ON review_assignments (reviewer_id);
CREATE TABLE review_nominations (
	nomination_id VARCHAR(36) NOT NULL, 
	campaign_id VARCHAR(100) NOT NULL, 
	category VARCHAR(100) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	nomination TEXT NOT NULL, 
	PRIMARY KEY (nomination_id)
);
CREATE TABLE review_rounds (
	round_id VARCHAR(200) NOT NULL, 
	campaign_id VARCHAR(100) NOT NULL, 
	category VARCHAR(100) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	result_version INTEGER NOT NULL, 
	PRIMARY KEY (round_id)
);
CREATE TABLE review_verdicts (
	nomination_id VARCHAR(36) NOT NULL, 
	rule VARCHAR(100) NOT NULL, 
	decision VARCHAR(20) NOT NULL, 
	reason TEXT NOT NULL, 
	PRIMARY KEY (nomination_id, rule)
);
