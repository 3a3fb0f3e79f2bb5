<?php
/**
 * Deleting the plugin from the Plugins screen deletes its settings.
 *
 * @package shopreco
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'shopreco_settings' );
