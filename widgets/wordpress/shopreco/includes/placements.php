<?php
/**
 * Where the widgets go: WooCommerce's product, cart, thank-you and shop pages through their
 * hooks, and anywhere else through the [shopreco] shortcode or the block.
 *
 * @package shopreco
 */

defined( 'ABSPATH' ) || exit;

/**
 * Whether the settings turn on the widgets of this WooCommerce page.
 *
 * @param string $spot product, cart, thank_you or home.
 */
function shopreco_spot_on( $spot ) {
	return in_array( $spot, shopreco_settings()['spots'], true );
}

/**
 * Product page, right after the summary: "Frequently bought together".
 */
function shopreco_product_bundle() {
	if ( shopreco_spot_on( 'product' ) ) {
		echo shopreco_widget_html( 'bundle' ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- every attribute is escaped by shopreco_widget_html().
	}
}

/**
 * Product page, after the tabs and upsells, before related products: "Customers also bought".
 */
function shopreco_product_also_bought() {
	if ( shopreco_spot_on( 'product' ) ) {
		echo shopreco_widget_html( 'also_bought' ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- every attribute is escaped by shopreco_widget_html().
	}
}

/**
 * Cart page, under the cart table: "Complete your order" for the cart's products.
 */
function shopreco_cart() {
	if ( shopreco_spot_on( 'cart' ) ) {
		echo shopreco_widget_html( 'cart', array( 'product_ids' => shopreco_cart_product_ids() ) ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- every attribute is escaped by shopreco_widget_html().
	}
}

/**
 * Thank-you page (woocommerce_thankyou passes the order id): "Picked for you" from the
 * order's products and its customer.
 *
 * @param int $order_id The order just placed.
 */
function shopreco_thank_you( $order_id ) {
	$order = shopreco_spot_on( 'thank_you' ) && function_exists( 'wc_get_order' ) ? wc_get_order( $order_id ) : null;
	if ( $order ) {
		echo shopreco_widget_html( 'thank_you', shopreco_order_context( $order ) ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- every attribute is escaped by shopreco_widget_html().
	}
}

/**
 * The shop page's first page, above the products: personal for a signed-in customer, else
 * trending (category, search and later pages get none).
 */
function shopreco_shop_home() {
	if ( shopreco_spot_on( 'home' ) && function_exists( 'is_shop' ) && is_shop() && ! is_paged() && ! is_search() ) {
		echo shopreco_widget_html( 'home' ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- every attribute is escaped by shopreco_widget_html().
	}
}

/**
 * The [shopreco] shortcode and the shopreco/recommendations block (init).
 */
function shopreco_register_shortcode_and_block() {
	add_shortcode( 'shopreco', 'shopreco_shortcode' );
	if ( function_exists( 'register_block_type' ) ) {
		register_block_type( dirname( SHOPRECO_FILE ) . '/blocks/recommendations', array( 'render_callback' => 'shopreco_render_block' ) );
	}
}

/**
 * [shopreco placement="also_bought" product="123" products="1,2" limit="4" heading="..."]:
 * without product (products) it takes the page's product (the cart's or order's products).
 * It never takes a customer: personal placements are the signed-in customer's.
 *
 * @param array|string $atts The shortcode's attributes.
 */
function shopreco_shortcode( $atts ) {
	$atts = shortcode_atts(
		array(
			'placement' => 'trending',
			'product'   => '',
			'products'  => '',
			'limit'     => 4,
			'heading'   => '',
		),
		$atts,
		'shopreco'
	);
	$args = array(
		'product_id'  => absint( $atts['product'] ) ? absint( $atts['product'] ) : '',
		'product_ids' => array_filter( array_map( 'absint', explode( ',', (string) $atts['products'] ) ) ),
		'limit'       => $atts['limit'],
		'heading'     => $atts['heading'],
	);
	return shopreco_widget_html( sanitize_key( $atts['placement'] ), $args );
}

/**
 * The block's render callback: the same placeholder as the shortcode.
 *
 * @param array $attributes placement, productId, limit, heading (blocks/recommendations/block.json).
 */
function shopreco_render_block( $attributes ) {
	$attributes = is_array( $attributes ) ? $attributes : array();
	$product    = isset( $attributes['productId'] ) ? absint( $attributes['productId'] ) : 0;
	$args       = array(
		'product_id' => $product ? $product : '',
		'limit'      => isset( $attributes['limit'] ) ? $attributes['limit'] : 4,
		'heading'    => isset( $attributes['heading'] ) ? (string) $attributes['heading'] : '',
	);
	return shopreco_widget_html( sanitize_key( isset( $attributes['placement'] ) ? (string) $attributes['placement'] : 'trending' ), $args );
}
