-- The schema commit e96f14f's create_all made in intake's database (sqlite), compiled from that
-- commit's metadata (the store's tables, then intake's projections).
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
-- intake
CREATE TABLE nominations (
	nomination_id VARCHAR(36) NOT NULL, 
	campaign_id VARCHAR(100) NOT NULL, 
	category VARCHAR(100) NOT NULL, 
	hospital_id VARCHAR(100) NOT NULL, 
	jurisdiction_id VARCHAR(100) NOT NULL, 
	route_to VARCHAR(20) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	nominee_name TEXT NOT NULL, 
	eligible BOOLEAN NOT NULL, 
	ineligible_reason TEXT NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (nomination_id)
);
CREATE INDEX ix_nominations_campaign ON nominations (campaign_id, category, status);
CREATE INDEX ix_nominations_hospital ON nominations (hospital_id, category, status);
CREATE INDEX ix_nominations_jurisdiction ON nominations (jurisdiction_id, status);
CREATE TABLE organizations (
	organization_id VARCHAR(100) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	name TEXT NOT NULL, 
	parent_id VARCHAR(100) NOT NULL, 
	jurisdiction_id VARCHAR(100) NOT NULL, 
	provincial_level BOOLEAN NOT NULL, 
	PRIMARY KEY (organization_id)
);
-- evidence
CREATE TABLE intake_evidence (
	sha256 VARCHAR(64) NOT NULL, 
	size INTEGER NOT NULL, 
	content BLOB NOT NULL, 
	PRIMARY KEY (sha256)
);
